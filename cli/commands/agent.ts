// Placeholder until the agent command lands.
import { ProcflowError } from '../../common/errors.js';
import { defineCommand, LOG_LEVEL_SETTING } from '../command.js';

export default defineCommand({
  name: 'agent',
  usage: 'procflow agent',
  summary: '(agent: not built yet)',
  settings: { ...LOG_LEVEL_SETTING },
  async run() {
    throw new ProcflowError('NOT_BUILT', 'agent: not built yet');
  },
});
