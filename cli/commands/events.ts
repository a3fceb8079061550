// `procflow events`: live process events from a running agent (its /v1/events stream), one
// line each (-o compact, like `tetra getevents -o compact`) or as JSON documents (-o json).
import { ProcflowError } from '../../common/errors.js';
import { compactLine } from '../../agent/compact.js';
import { EventFilter } from '../../agent/process-events.js';
import type { ProcessEventDoc } from '../../schema/index.js';
import { defineCommand, LOG_LEVEL_SETTING } from '../command.js';

interface EventsConfig {
  agent_url: string;
  output: 'compact' | 'json';
  namespace: string[];
  pod: string;
  binary: string;
  event_types: string[];
  log_level: string;
}

export default defineCommand<EventsConfig>({
  name: 'events',
  usage: 'procflow events [-o compact|json] [--agent-url URL] [--namespace NS] [--pod REGEX] [--binary REGEX]',
  summary: 'live process exec/exit events from a running agent, one line each or JSON',
  settings: {
    agent_url: { doc: 'the agent\'s HTTP port (its --listen)', format: 'url-or-empty', default: 'http://127.0.0.1:9464' },
    output: { doc: 'compact (one line per event) or json (the documents)', format: ['compact', 'json'], default: 'compact', short: 'o' },
    namespace: { doc: 'only these pod namespaces ("-" = processes outside pods), comma separated', format: Array, default: [] as string[] },
    pod: { doc: 'only pods whose name matches this regular expression', format: String, default: '' },
    binary: { doc: 'only binaries whose path matches this regular expression', format: String, default: '' },
    event_types: { doc: 'event types to show: process_exec, process_exit (comma separated; default both)', format: Array, default: [] as string[] },
    ...LOG_LEVEL_SETTING,
  },
  async run(c) {
    // Filters are checked here too, so a bad regex fails before connecting.
    const filter = new EventFilter({ namespaces: c.namespace, podRegex: c.pod || undefined, binaryRegex: c.binary || undefined });
    const types = new Set(c.event_types);
    const url = new URL('/v1/events', c.agent_url);
    for (const ns of c.namespace) url.searchParams.append('namespace', ns);
    if (c.pod) url.searchParams.set('pod', c.pod);
    if (c.binary) url.searchParams.set('binary', c.binary);
    let res: Response;
    try {
      res = await fetch(url);
    } catch (err) {
      throw new ProcflowError('AGENT_UNREACHABLE', `events: cannot reach the agent at ${c.agent_url}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`,
        'is `procflow agent` running here? point --agent-url at its --listen address', { cause: err });
    }
    if (!res.ok || !res.body) throw new ProcflowError('AGENT_STREAM', `events: the agent answered HTTP ${res.status}: ${await res.text()}`);
    const stop = new AbortController();
    process.once('SIGINT', () => stop.abort());
    let rest = '';
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        if (stop.signal.aborted) break;
        rest += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = rest.indexOf('\n')) >= 0) {
          const line = rest.slice(0, nl);
          rest = rest.slice(nl + 1);
          if (!line) continue;
          const doc = JSON.parse(line) as ProcessEventDoc;
          if (types.size && !types.has(doc.event_type)) continue;
          if (!filter.matches(doc)) continue;
          const out = c.output === 'json' ? line : compactLine(doc);
          if (!process.stdout.write(`${out}\n`)) await new Promise((r) => process.stdout.once('drain', r));
        }
      }
    } catch (err) {
      if (!stop.signal.aborted) throw new ProcflowError('AGENT_STREAM', `events: the stream from the agent broke: ${(err as Error).message}`);
    }
    return 0;
  },
});
