// Live process events for `procflow events`: every subscriber (an HTTP response streaming NDJSON)
// gets each event unless it is not keeping up, in which case that event is dropped for it and
// counted, so a slow terminal never grows the agent's memory.
import type { ServerResponse } from 'node:http';
import type { ProcessEventDoc } from '../../schema/index.js';
import type { EventFilter } from './process-events.js';
import { docJson } from '../../common/doc-json.js';

interface Subscriber {
  res: ServerResponse;
  filter: EventFilter;
}

export class EventHub {
  private readonly subs = new Set<Subscriber>();
  dropped = 0;

  get subscribers(): number {
    return this.subs.size;
  }

  subscribe(res: ServerResponse, filter: EventFilter): void {
    const sub = { res, filter };
    this.subs.add(sub);
    res.on('close', () => this.subs.delete(sub));
  }

  publish(doc: ProcessEventDoc): void {
    if (this.subs.size === 0) return;
    const line = `${docJson(doc)}\n`;
    for (const s of this.subs) {
      if (!s.filter.matches(doc)) continue;
      if (s.res.writableNeedDrain) {
        this.dropped++;
        continue;
      }
      s.res.write(line);
    }
  }

  close(): void {
    for (const s of this.subs) s.res.end();
    this.subs.clear();
  }
}
