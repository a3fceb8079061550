// The document contract: everything agent, indexer, Kibana checks and tests need to agree on.
import { compileCanonical, type Canonicalizer } from './canonical.js';
import { compileValidator, type Validator } from './validate.js';
import { DNS_LOG_FIELDS, type DnsLog } from './dns-log.js';
import { FLOW_LOG_FIELDS, type FlowLog } from './flow-log.js';
import { PROCESS_EVENT_FIELDS, type ProcessEventDoc } from './process-event.js';
import { dnsLogId, flowLogId, processEventId } from './ids.js';
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

export interface DocTypeContract<D> {
  kind: DocKind;
  /** The indexer's ingest path for this kind (the agent posts there). */
  route: string;
  fields: FieldTable;
  validate: Validator;
  id: (doc: D) => string;
  index: (doc: D) => string;
  /** The document's time (what its daily index is named after), as an ISO string. */
  timestamp: (doc: D) => string;
  /** The content in one form whether read back from a stored or a synthetic _source (schema/canonical.ts). */
  canonical: Canonicalizer;
}

const validateFlow = compileValidator(FLOW_LOG_FIELDS);

const validateProcessShape = compileValidator(PROCESS_EVENT_FIELDS);
const validateProcess: Validator = (doc) => {
  const err = validateProcessShape(doc);
  if (err) return err;
  const d = doc as ProcessEventDoc;
  if (d.event_type === 'process_exec') {
    return d.process_exec && !d.process_exit ? null : 'a process_exec event needs "process_exec" (and no "process_exit")';
  }
  if (d.event_type === 'process_exit') {
    return d.process_exit && !d.process_exec ? null : 'a process_exit event needs "process_exit" (and no "process_exec")';
  }
  return `field "event_type" must be process_exec or process_exit, got ${JSON.stringify(d.event_type)}`;
};

export const FLOW_CONTRACT: DocTypeContract<FlowLog> = {
  kind: 'flows',
  route: '/v1/flows',
  fields: FLOW_LOG_FIELDS,
  validate: validateFlow,
  id: flowLogId,
  index: (d) => dailyIndex('flows', d['@timestamp']),
  timestamp: (d) => d['@timestamp'],
  canonical: compileCanonical(FLOW_LOG_FIELDS),
};

export const PROCESS_CONTRACT: DocTypeContract<ProcessEventDoc> = {
  kind: 'process',
  route: '/v1/process-events',
  fields: PROCESS_EVENT_FIELDS,
  validate: validateProcess,
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
