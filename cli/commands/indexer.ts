// `procflow indexer`: the ingest service agents ship to. Runs until SIGTERM/SIGINT, then stops
// accepting, drains in-flight batches and exits 0 (a second signal exits at once).
import { createLogger, LOG_LEVEL_SETTING } from '../../common/log.js';
import { limitHeapGrowth } from '../../indexer/heap.js';
import { INDEXER_SETTINGS, startIndexer } from '../../indexer/index.js';
import { defineCommand } from '../command.js';


export default defineCommand({
  name: 'indexer',
  usage: 'procflow indexer --es-url URL --listen HOST:PORT --token T',
  summary: 'the ingest service: agents POST NDJSON batches, it bulk-writes them into Elasticsearch',
  settings: { ...INDEXER_SETTINGS, ...LOG_LEVEL_SETTING },
  async run(c) {
    const log = createLogger('indexer', c.log_level as never);
    if (process.argv.some((a) => a === '--token' || a.startsWith('--token='))) {
      log.warn('indexer: --token on the command line is visible in the process list; use --token-file or PROCFLOW_TOKEN');
    }
    limitHeapGrowth();
    const indexer = await startIndexer(c, { log });
    process.stdout.write(`procflow indexer: listening on ${indexer.url}\n`);
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    const force = () => {
      log.warn('indexer: second signal, exiting without draining');
      process.exit(1);
    };
    process.once('SIGTERM', force);
    process.once('SIGINT', force);
    log.info({ signal }, 'indexer: signal received');
    await indexer.close();
    log.flush();
    return 0;
  },
});
