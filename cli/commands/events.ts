// Placeholder until the events command lands.
import { ProcflowError } from '../../common/errors.js';
import { defineCommand, LOG_LEVEL_SETTING } from '../command.js';

export default defineCommand({
  name: 'events',
  usage: 'procflow events',
  summary: '(events: not built yet)',
  settings: { ...LOG_LEVEL_SETTING },
  async run() {
    throw new ProcflowError('NOT_BUILT', 'events: not built yet');
  },
});
