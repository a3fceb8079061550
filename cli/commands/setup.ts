// `procflow setup`: install templates (and Kibana saved objects when --kibana-url is given).
import { ES_SETTINGS, createEsClient, waitForCluster } from '../../common/elasticsearch.js';
import { ConfigError } from '../../common/errors.js';
import { createLogger, LOG_LEVEL_SETTING } from '../../common/log.js';
import { installTemplates } from '../../schema/install.js';
import { defineCommand } from '../command.js';
import { KIBANA_SETTINGS, importKibanaObjects } from '../../kibana/importer.js';


export default defineCommand({
  name: 'setup',
  usage: 'procflow setup --es-url URL [--kibana-url URL]',
  summary: 'install index templates (and Kibana dashboards); idempotent, safe on every start',
  settings: {
    ...ES_SETTINGS,
    ...KIBANA_SETTINGS,
    retention_days: { doc: 'days to keep flow and process indices (applied where the cluster has ILM)', format: 'nat', min: 1, default: 7 },
    wait_timeout: { doc: 'how long to wait for Elasticsearch (and Kibana) to answer', format: 'duration', default: 60_000 },
    ...LOG_LEVEL_SETTING,
  },
  async run(c) {
    // ILM would delete every index as soon as it is created.
    if (c.retention_days < 1) throw new ConfigError(`--retention-days must be at least 1, got ${c.retention_days}`, '--retention-days 7 is the default');
    const log = createLogger('setup', c.log_level as never);
    const client = createEsClient(c);
    try {
      await waitForCluster(client, c.es_url, c.wait_timeout);
      const res = await installTemplates(client, { retentionDays: c.retention_days });
      log.info({ installed: res.installed, capabilities: res.capabilities, index_mode: res.indexMode }, 'templates installed');
      if (!res.capabilities.ilm) log.warn('the cluster has no ILM: indices are not deleted automatically; delete old procflow-*-YYYY.MM.DD indices yourself');
      if (c.kibana_url) {
        const imported = await importKibanaObjects(c, { timeoutMs: c.wait_timeout, log });
        log.info({ imported }, 'Kibana saved objects imported');
      }
      process.stdout.write(`procflow setup: done (${res.installed.length} templates${c.kibana_url ? ', Kibana objects' : ''}; index mode of flow, process and DNS indices: ${res.indexMode})\n`);
      return 0;
    } finally {
      await client.close();
    }
  },
});
