// The document contract: everything agent, indexer, Kibana checks and tests need to agree on.
import { compileCanonical, type Canonicalizer } from './canonical.js';
import { compileValidator, type Validator } from './validate.js';
import { compileScanner, type Scanner } from './scan.js';
import { DNS_LOG_FIELDS, type DnsLog } from './dns-log.js';
import { FLOW_LOG_FIELDS, type FlowLog } from './flow-log.js';
import { PROCESS_EVENT_FIELDS, type ProcessEventDoc } from './process-event.js';
import { DNS_LOG_ID, FLOW_LOG_ID, PROCESS_EVENT_ID, dnsLogId, flowLogId, processEventId } from './ids.js';
import { dailyIndex, type DocKind } from './indices.js';
import type { FieldTable } from './field-spec.js';

export * from './field-spec.js';
export * from './flow-log.js';
export * from './dns-log.js';
export * from './process-event.js';
export * from './dead-letter.js';
export * from './indices.js';
export * from './ids.js';
export * from './templates.js';
export * from './validate.js';
export * from './canonical.js';
export * from './scan.js';
export * from './time.js';

export interface DocTypeContract<D> {
  kind: DocKind;
  /** The indexer's ingest path for this kind (the agent posts there). */
  route: string;
  fields: FieldTable;
  validate: Validator;
  /**
   * Checks a document's JSON text as `validate` does without building it, and gives what `id`,
   * `index` and `timestamp` give from the parsed document (`index` and `timestamp` read the
   * document it cuts down); null when it cannot vouch for the text (JSON.parse and `validate`
   * then judge).
   */
  scan: Scanner;
  id: (doc: D) => string;
  index: (doc: D) => string;
  /** The document's time (what its daily index is named after), as an ISO string. */
  timestamp: (doc: D) => string;
  /** The content in one form whether read back from a stored or a synthetic _source (schema/canonical.ts). */
  canonical: Canonicalizer;
}

/** Every contract's index and time come from @timestamp: what they read of a cut-down document. */
const TIME_KEYS = ['@timestamp'];

/** Beyond the table: the event's body matches its type. */
function refineProcess(d: ProcessEventDoc): string | null {
  if (d.event_type === 'process_exec') {
    return d.process_exec && !d.process_exit ? null : 'a process_exec event needs "process_exec" (and no "process_exit")';
  }
  if (d.event_type === 'process_exit') {
    return d.process_exit && !d.process_exec ? null : 'a process_exit event needs "process_exit" (and no "process_exec")';
  }
  return `field "event_type" must be process_exec or process_exit, got ${JSON.stringify(d.event_type)}`;
}
/** What refineProcess reads: the type, and whether each body is there (a path through it brings it). */
const REFINE_PROCESS_KEYS = ['event_type', 'process_exec.process.exec_id', 'process_exit.process.exec_id'];
const validateProcessShape = compileValidator(PROCESS_EVENT_FIELDS);

export const FLOW_CONTRACT: DocTypeContract<FlowLog> = {
  kind: 'flows',
  route: '/v1/flows',
  fields: FLOW_LOG_FIELDS,
  validate: compileValidator(FLOW_LOG_FIELDS),
  scan: compileScanner(FLOW_LOG_FIELDS, { keys: TIME_KEYS, id: FLOW_LOG_ID }),
  id: flowLogId,
  index: (d) => dailyIndex('flows', d['@timestamp']),
  timestamp: (d) => d['@timestamp'],
  canonical: compileCanonical(FLOW_LOG_FIELDS),
};

export const PROCESS_CONTRACT: DocTypeContract<ProcessEventDoc> = {
  kind: 'process',
  route: '/v1/process-events',
  fields: PROCESS_EVENT_FIELDS,
  validate: (doc) => validateProcessShape(doc) ?? refineProcess(doc as ProcessEventDoc),
  scan: compileScanner(PROCESS_EVENT_FIELDS, { keys: [...TIME_KEYS, ...REFINE_PROCESS_KEYS], id: PROCESS_EVENT_ID, refine: (d) => refineProcess(d as ProcessEventDoc) }),
  id: processEventId,
  index: (d) => dailyIndex('process', d['@timestamp']),
  timestamp: (d) => d['@timestamp'],
  canonical: compileCanonical(PROCESS_EVENT_FIELDS),
};

export const DNS_CONTRACT: DocTypeContract<DnsLog> = {
  kind: 'dns',
  route: '/v1/dns-logs',
  fields: DNS_LOG_FIELDS,
  validate: compileValidator(DNS_LOG_FIELDS),
  scan: compileScanner(DNS_LOG_FIELDS, { keys: TIME_KEYS, id: DNS_LOG_ID }),
  id: dnsLogId,
  index: (d) => dailyIndex('dns', d['@timestamp']),
  timestamp: (d) => d['@timestamp'],
  canonical: compileCanonical(DNS_LOG_FIELDS),
};

/** Every document kind's contract, by kind. */
export const CONTRACTS: { readonly [K in DocKind]: DocTypeContract<never> } = {
  flows: FLOW_CONTRACT as DocTypeContract<never>,
  process: PROCESS_CONTRACT as DocTypeContract<never>,
  dns: DNS_CONTRACT as DocTypeContract<never>,
};
