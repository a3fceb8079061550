// `procflow events`: live process events from a running agent (its /v1/events stream), one
// line each (-o compact, like `tetra getevents -o compact`) or as JSON documents (-o json).
// The agent is reached over TCP or its Unix socket (--agent-url unix:PATH), with a bearer token
// when it requires one (its --api-token-file).
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { unixSocketPath } from '../../common/config.js';
import { ConfigError, ProcflowError } from '../../common/errors.js';
import { openRequest, readBody } from '../../common/http-client.js';
import { streamLines } from '../../common/lines.js';
import { parseTokens } from '../../common/watched-file.js';
import { compactLine } from '../../agent/process/compact.js';
import { EventFilter } from '../../agent/process/process-events.js';
import type { ProcessEventDoc } from '../../schema/index.js';
import { LOG_LEVEL_SETTING } from '../../common/log.js';
import { defineCommand } from '../command.js';


/** The first token of --agent-token-file. */
function readToken(path: string): string {
  let contents: Buffer;
  try {
    contents = readFileSync(path);
  } catch (err) {
    throw new ConfigError(`cannot read --agent-token-file ${path}: ${(err as Error).message}`, 'give a readable file holding a token of the agent\'s --api-token-file');
  }
  return parseTokens(contents, `${path} (--agent-token-file)`)[0]!;
}

export default defineCommand({
  name: 'events',
  usage: 'procflow events [-o compact|json] [--agent-url URL|unix:PATH] [--agent-token-file FILE] [--namespace NS] [--pod REGEX] [--binary REGEX]',
  summary: 'live process exec/exit events from a running agent, one line each or JSON',
  settings: {
    agent_url: { doc: 'the agent\'s HTTP port (its --listen): http://HOST:PORT, or unix:/path/to.sock', format: 'url-or-unix', default: 'http://127.0.0.1:9464' },
    agent_token_file: { doc: 'file holding a token of the agent\'s --api-token-file (its first token line is sent)', format: String, default: '' },
    output: { doc: 'compact (one line per event) or json (the documents)', format: ['compact', 'json'] as const, default: 'compact', short: 'o' },
    namespace: { doc: 'only these pod namespaces ("-" = processes outside pods), comma separated', format: Array, default: [] as string[] },
    pod: { doc: 'only pods whose name matches this regular expression', format: String, default: '' },
    binary: { doc: 'only binaries whose path matches this regular expression', format: String, default: '' },
    event_types: { doc: 'event types to show: process_exec, process_exit (comma separated; default both)', format: Array, default: [] as string[] },
    ...LOG_LEVEL_SETTING,
  },
  async run(c) {
    // Filters are checked here too, so a bad regex fails before connecting.
    const filter = new EventFilter({ namespaces: c.namespace, podRegex: c.pod || undefined, binaryRegex: c.binary || undefined });
    if (!c.agent_url) throw new ConfigError('--agent-url is empty', 'give the agent\'s --listen address, e.g. --agent-url http://127.0.0.1:9464');
    const types = new Set(c.event_types);
    for (const t of types) if (t !== 'process_exec' && t !== 'process_exit') throw new ConfigError(`--event-types: unknown event type ${JSON.stringify(t)}`, 'give process_exec, process_exit or both, comma separated (PROCFLOW_EVENT_TYPES)');
    const socketPath = unixSocketPath(c.agent_url);
    const url = new URL('/v1/events', socketPath ? 'http://agent' : c.agent_url);
    const headers: Record<string, string> = c.agent_token_file ? { authorization: `Bearer ${readToken(c.agent_token_file)}` } : {};
    for (const ns of c.namespace) url.searchParams.append('namespace', ns);
    if (c.pod) url.searchParams.set('pod', c.pod);
    if (c.binary) url.searchParams.set('binary', c.binary);
    // Ctrl-C aborts the request itself: the stream may be quiet for minutes, and waiting for the
    // next chunk to notice the signal would leave the command hanging.
    const stop = new AbortController();
    const onSigint = () => stop.abort();
    process.once('SIGINT', onSigint);
    let res: IncomingMessage;
    try {
      res = await openRequest(url, { headers, timeoutMs: 10_000, signal: stop.signal, ...(socketPath ? { socketPath } : {}) });
    } catch (err) {
      process.off('SIGINT', onSigint);
      if (stop.signal.aborted) return 0;
      throw new ProcflowError('AGENT_UNREACHABLE', `events: cannot reach the agent at ${c.agent_url}: ${(err as Error).message}`,
        'is `procflow agent` running here? point --agent-url at its --listen address', { cause: err });
    }
    // The stream may stay quiet for minutes: only connecting has a deadline.
    res.socket?.setTimeout(0);
    const notAgent = (what: string) => {
      process.off('SIGINT', onSigint);
      stop.abort();
      return new ProcflowError('AGENT_STREAM', `events: ${c.agent_url} is not a procflow agent's event stream (${what})`,
        'point --agent-url (PROCFLOW_AGENT_URL) at the --listen address of a running `procflow agent`');
    };
    if (res.statusCode === 401) {
      process.off('SIGINT', onSigint);
      stop.abort();
      throw new ProcflowError('AGENT_UNAUTHORIZED', `events: the agent at ${c.agent_url} refused the request without a valid token (HTTP 401)`,
        'pass --agent-token-file FILE (PROCFLOW_AGENT_TOKEN_FILE) holding one of the tokens of the agent\'s --api-token-file');
    }
    if (res.statusCode !== 200) throw notAgent(`HTTP ${res.statusCode}: ${(await readBody(res).catch(() => '')).slice(0, 200)}`);
    const type = res.headers['content-type'] ?? '';
    if (!type.startsWith('application/x-ndjson')) throw notAgent(`it answered ${type || 'without a content type'}`);
    try {
      for await (const raw of streamLines(res)) {
        if (stop.signal.aborted) break;
        if (!raw.length) continue;
        const line = raw.toString('utf8');
        let doc: ProcessEventDoc;
        try {
          doc = JSON.parse(line) as ProcessEventDoc;
        } catch {
          throw notAgent(`a line that is not JSON: ${JSON.stringify(line.slice(0, 80))}`);
        }
        if (types.size && !types.has(doc.event_type)) continue;
        if (!filter.matches(doc)) continue;
        // Control characters in arguments (a newline, a terminal escape) would break the one-line view or drive the terminal: print them escaped.
        const out = c.output === 'json' ? line : compactLine(doc).replace(/[\u0000-\u001f\u007f-\u009f]/g, (ch) => ({ '\n': '\\n', '\r': '\\r', '\t': '\\t' })[ch] ?? `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`);
        if (!process.stdout.write(`${out}\n`)) await new Promise((r) => process.stdout.once('drain', r));
      }
    } catch (err) {
      if (err instanceof ProcflowError) throw err;
      if (!stop.signal.aborted) throw new ProcflowError('AGENT_STREAM', `events: the stream from the agent broke: ${(err as Error).message}`, 'is the agent still running? start `procflow events` again once it is');
    } finally {
      process.off('SIGINT', onSigint);
    }
    return 0;
  },
});
