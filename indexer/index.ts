// The indexer service: HTTP ingest for agents, bulk writes into Elasticsearch.
export { startIndexer, type Indexer, type IndexerDeps } from './server.js';
export { INDEXER_SETTINGS, withDefaults, type IndexerOptions } from './options.js';
