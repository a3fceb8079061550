// Placeholder until the flows command lands.
import { ProcflowError } from '../../common/errors.js';
import { defineCommand, LOG_LEVEL_SETTING } from '../command.js';

export default defineCommand({
  name: 'flows',
  usage: 'procflow flows',
  summary: '(flows: not built yet)',
  settings: { ...LOG_LEVEL_SETTING },
  async run() {
    throw new ProcflowError('NOT_BUILT', 'flows: not built yet');
  },
});
