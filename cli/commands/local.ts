// Placeholder until the local command lands.
import { ProcflowError } from '../../common/errors.js';
import { defineCommand, LOG_LEVEL_SETTING } from '../command.js';

export default defineCommand({
  name: 'local',
  usage: 'procflow local',
  summary: '(local: not built yet)',
  settings: { ...LOG_LEVEL_SETTING },
  async run() {
    throw new ProcflowError('NOT_BUILT', 'local: not built yet');
  },
});
