// `procflow local`: the whole stack on this machine without Docker. A local Elasticsearch
// (the integ-test distribution, data kept under the cache directory), the templates, the
// indexer and the agent as child processes, then a live view of what gets indexed and the URL
// to query. Without eBPF privileges it says so and keeps Elasticsearch and the indexer running.
// Ctrl-C (or SIGTERM) stops the agent, then the indexer (it drains), then Elasticsearch.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createEsClient, ES_SETTINGS } from '../../common/elasticsearch.js';
import { ProcflowError } from '../../common/errors.js';
import { createLogger, LOG_LEVEL_SETTING } from '../../common/log.js';
import { installTemplates } from '../../schema/install.js';
import { cacheDir, ES_USER, startLocalElasticsearch, type LocalEs } from '../../local-services/elasticsearch.js';
import { startChild, type Child } from '../local/child.js';
import { invocationProblems, isPlaceholder, loadCommand } from '../invocation.js';
import { startLiveView, type ViewKind } from '../local/live-view.js';
import { defineCommand } from '../command.js';
import { freePort } from '../../common/net.js';


/** Fails early, with the setting to change, when a port is taken. */
async function ensurePortFree(host: string, port: number, flag: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const srv = createServer();
    srv.once('error', (err: NodeJS.ErrnoException) =>
      reject(new ProcflowError('LOCAL_PORT', `local: ${host}:${port} is in use (${err.code})`, `stop what listens there, or pass ${flag} with another port (0 picks a free one)`)),
    );
    srv.listen(port, host, () => srv.close(() => resolve()));
  });
}

async function waitReady(url: string, child: Child, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.done()) throw new ProcflowError('LOCAL_CHILD', `local: the ${child.name} exited while starting:\n${child.tail()}`, `see ${child.logFile}`);
    const ok = await fetch(url).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new ProcflowError('LOCAL_CHILD', `local: the ${child.name} was not ready at ${url} within ${timeoutMs / 1000}s:\n${child.tail()}`, `see ${child.logFile}`);
}

/** As root, Elasticsearch runs as ES_USER: every directory above its data must let others pass. */
function ensureReachableByEsUser(dir: string): void {
  if (process.getuid?.() !== 0) return;
  for (let d = dirname(resolve(dir)); ; d = dirname(d)) {
    if (existsSync(d) && (statSync(d).mode & 0o001) === 0) {
      throw new ProcflowError('LOCAL_DATA_DIR', `local: Elasticsearch runs as ${ES_USER} and cannot enter ${d} (mode ${(statSync(d).mode & 0o777).toString(8)})`, `choose a --data-dir outside it (the default is under ${cacheDir()}), or chmod o+x ${d}`);
    }
    if (d === dirname(d)) return;
  }
}

const say = (m: string) => process.stderr.write(`procflow local: ${m}\n`);

export default defineCommand({
  name: 'local',
  usage: 'procflow local [--es-port 9200] [--listen 127.0.0.1:8080] [--view both|events|flows|none]',
  summary: 'run the whole stack here without Docker: Elasticsearch, indexer, agent, and a live view',
  settings: {
    es_port: { doc: 'port of the local Elasticsearch (0 picks a free one)', format: 'port', default: 9200 },
    es_heap: { doc: 'Elasticsearch heap size, e.g. 512m or 1g', format: String, default: '1g' },
    data_dir: { doc: 'where Elasticsearch data, the agent spool and the logs are kept (default: <cache>/local)', format: String, default: '' },
    listen: { doc: 'HOST:PORT of the indexer (port 0 picks a free one)', format: 'host-port', default: '127.0.0.1:8080' },
    token: { doc: 'token between agent and indexer (a random one when empty)', format: String, default: '', sensitive: true },
    agent: { doc: 'start the agent (needs root or CAP_BPF+CAP_PERFMON); --agent=false runs Elasticsearch and the indexer only', format: Boolean, default: true },
    flush_interval: { doc: 'agent flush interval', format: 'duration', default: 5_000 },
    view: { doc: 'what the live view shows: both, events, flows, none', format: ['both', 'events', 'flows', 'none'] as const, default: 'both' },
    wait_timeout: { doc: 'how long to wait for each part to start', format: 'duration', default: 180_000 },
    ...LOG_LEVEL_SETTING,
  },
  async run(c) {
    const log = createLogger('local', c.log_level as never);
    const dataDir = c.data_dir || join(cacheDir(), 'local');
    ensureReachableByEsUser(dataDir);
    const token = c.token || randomBytes(18).toString('base64url');
    const [host, portText] = [c.listen.slice(0, c.listen.lastIndexOf(':')), c.listen.slice(c.listen.lastIndexOf(':') + 1)];
    const indexerPort = Number(portText) || (await freePort());
    const esPort = c.es_port || (await freePort());
    await ensurePortFree('127.0.0.1', esPort, '--es-port');
    await ensurePortFree(host, indexerPort, '--listen');

    let stopping: Promise<void> | undefined;
    let es: LocalEs | undefined;
    let indexer: Child | undefined;
    let agent: Child | undefined;
    let view: { stop(): Promise<void> } | undefined;
    const stopAll = () =>
      (stopping ??= (async () => {
        say('stopping');
        await view?.stop();
        await agent?.stop(15_000);
        await indexer?.stop(35_000);
        await es?.stop();
        say('stopped');
      })());
    // Ctrl-C while starting stops what already runs.
    let interrupted = false;
    const signalled = new Promise<void>((resolve) => {
      let firstAt = 0;
      const on = () => {
        // `npm start` forwards the terminal's Ctrl-C to us, which already got it: one press
        // arrives twice within moments. Only a later press means "kill now".
        if (interrupted && Date.now() - firstAt < 1500) return;
        if (interrupted) {
          // A second Ctrl-C: do not wait for draining.
          say('second signal: killing everything now');
          agent?.kill();
          indexer?.kill();
          if (es && es.pid > 0) process.kill(es.pid, 'SIGTERM'); // the launcher stops the server
          process.exit(130);
        }
        interrupted = true;
        firstAt = Date.now();
        resolve();
      };
      process.on('SIGINT', on);
      process.on('SIGTERM', on);
    });

    try {
      say(`data and logs under ${dataDir}`);
      es = await startLocalElasticsearch({ port: esPort, dataDir: join(dataDir, 'elasticsearch'), heap: c.es_heap, progress: say, startTimeoutMs: c.wait_timeout });
      if (interrupted) return (await stopAll(), 130);
      const esConn = { ...Object.fromEntries(Object.entries(ES_SETTINGS).map(([k, s]) => [k, s.default])), es_url: es.url } as never;
      const client = createEsClient(esConn);
      const installed = await installTemplates(client, { retentionDays: 7 });
      say(`templates installed (${installed.installed.length})`);

      const indexerUrl = `http://${host.includes(':') ? `[${host}]` : host}:${indexerPort}`;
      const childEnv = { ...process.env, PROCFLOW_TOKEN: token, PROCFLOW_LOG_LEVEL: c.log_level };
      say(`starting the indexer on ${indexerUrl}`);
      indexer = startChild('indexer', ['indexer', '--es-url', es.url, '--listen', `${host}:${indexerPort}`], childEnv, join(dataDir, 'logs', 'indexer.log'));
      await waitReady(`${indexerUrl}/readyz`, indexer, c.wait_timeout);
      say('indexer ready');

      const agentNote = await startAgent();
      async function startAgent(): Promise<string> {
        if (!c.agent) return 'agent: off (--agent=false)';
        const cmd = await loadCommand('agent');
        if (!cmd || isPlaceholder(cmd)) return 'agent: not available in this build; Elasticsearch and the indexer keep running';
        const argv = ['agent', '--indexer-url', indexerUrl, '--flush-interval', `${c.flush_interval}ms`, '--spool-dir', join(dataDir, 'spool'), '--listen', `127.0.0.1:${await freePort()}`];
        const problems = await invocationProblems(argv, { PROCFLOW_TOKEN: token });
        if (problems.length) return `agent: not started (${problems.join('; ')})`;
        const { checkKernelSupport } = await import('../../native/index.js');
        const support = checkKernelSupport();
        if (!support.ok) return `agent: cannot collect here: needs ${support.missing.join(', ')} (${support.hint}); Elasticsearch and the indexer keep running`;
        agent = startChild('agent', argv, childEnv, join(dataDir, 'logs', 'agent.log'));
        // An agent that cannot attach exits within moments; report why and carry on without it.
        const early = await Promise.race([agent.exited.then((code) => ({ code })), new Promise<null>((r) => setTimeout(() => r(null), 3000))]);
        if (early) return `agent: exited (${early.code}) while starting; Elasticsearch and the indexer keep running:\n${agent.tail(6)}`;
        return `agent: running (pid ${agent.pid}, log ${agent.logFile})`;
      }
      say(agentNote);

      process.stdout.write(
        [
          '',
          `procflow local: ready`,
          `  Elasticsearch  ${es.url}    (no auth; flows in procflow-flows-*, events in procflow-process-*)`,
          `  indexer        ${indexerUrl}    (POST /v1/flows, /v1/process-events, /v1/dns-logs; token in PROCFLOW_TOKEN or --token)`,
          `  query          curl '${es.url}/procflow-flows-*/_search?q=process_name:*curl*&sort=@timestamp:desc&pretty'`,
          `  logs           ${join(dataDir, 'logs')}`,
          `  Ctrl-C stops everything`,
          '',
        ].join('\n') + '\n',
      );
      const kinds: ViewKind[] = c.view === 'both' ? ['events', 'flows'] : c.view === 'none' ? [] : [c.view];
      const width = process.stdout.isTTY ? process.stdout.columns : 240;
      view = startLiveView(client, kinds, (line) => process.stdout.write(`${line.length > width ? `${line.slice(0, width - 1)}…` : line}\n`), {
        since: new Date(Date.now() - 60_000),
        // The stack's own chatter (this view, the indexer and agent, Elasticsearch answering them).
        hideFlows: { processIds: [process.pid, indexer.pid, ...(agent ? [agent.pid] : [])].map(String), port: esPort },
      });

      // The agent dying is reported, not fatal: the indexer still takes other agents' batches.
      void agent?.exited.then((code) => !stopping && say(`agent exited (${code}); Elasticsearch and the indexer keep running:\n${agent!.tail(6)}`));
      // Run until a signal, or until the indexer dies.
      const why = await Promise.race([
        signalled.then(() => 'signal'),
        indexer.exited.then((code) => `the indexer exited (${code}):\n${indexer!.tail()}`),
      ]);
      await stopAll();
      await client.close();
      if (why !== 'signal') {
        log.error({ why }, 'local: stopped because a part failed');
        say(why);
        return 1;
      }
      return 0;
    } catch (err) {
      await stopAll();
      throw err;
    }
  },
});
