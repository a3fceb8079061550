// `procflow agent`: the node daemon (agent/run.ts does the work).
import { AGENT_SETTINGS } from '../../agent/config.js';
import { runAgent } from '../../agent/run.js';
import { defineCommand } from '../command.js';

export default defineCommand({
  name: 'agent',
  usage: 'procflow agent --indexer-url URL --token T [--flush-interval 15s] | procflow agent --output ndjson',
  summary: 'the node daemon: process-attributed flow logs and process events, shipped to the indexer',
  settings: AGENT_SETTINGS,
  run: runAgent,
});
