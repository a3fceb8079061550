// Contract-valid sample documents for tests: one base each, call sites override what they test.
import type { FlowLog } from '../../schema/index.js';

/** A valid flow log (curl on node-a talking to 2001:db8::7:443); `over` replaces fields. */
export function sampleFlowLog(over: Partial<FlowLog> = {}): FlowLog {
  return {
    '@timestamp': '2026-03-04T05:06:07.000Z',
    start_time: '2026-03-04T05:05:52.000Z',
    end_time: '2026-03-04T05:06:07.000Z',
    host: 'node-a',
    source_ip: '10.0.0.1',
    source_port: 43210,
    source_name: '-',
    source_name_aggr: 'node-a',
    source_namespace: '-',
    source_type: 'hep',
    dest_ip: '2001:db8::7',
    dest_port: 443,
    dest_name: '-',
    dest_name_aggr: 'pub',
    dest_namespace: '-',
    dest_type: 'net',
    proto: 'tcp',
    reporter: 'src',
    bytes_in: 1200,
    bytes_out: 300,
    packets_in: 3,
    packets_out: 2,
    num_flows: 1,
    num_flows_started: 1,
    num_flows_completed: 1,
    process_name: '/usr/bin/curl',
    num_process_names: 1,
    process_id: '4242',
    num_process_ids: 1,
    process_args: ['-s', 'https://example.com'],
    num_process_args: 1,
    ...over,
  };
}
