// Placeholder until the indexer command lands.
import { ProcflowError } from '../../common/errors.js';
import { defineCommand, LOG_LEVEL_SETTING } from '../command.js';

export default defineCommand({
  name: 'indexer',
  usage: 'procflow indexer',
  summary: '(indexer: not built yet)',
  settings: { ...LOG_LEVEL_SETTING },
  async run() {
    throw new ProcflowError('NOT_BUILT', 'indexer: not built yet');
  },
});
