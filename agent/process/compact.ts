// The one-line view of process events, as `tetra getevents -o compact` prints them:
//   🚀 process default/xwing /usr/bin/curl -s https://example.com
//   💥 exit    default/xwing /usr/bin/curl -s https://example.com 0
// Processes outside pods show the node name where Tetragon shows namespace/pod.
import type { ProcessEventDoc, ProcessInfo } from '../../schema/index.js';

function where(doc: ProcessEventDoc, p: ProcessInfo): string {
  return p.pod?.name ? `${p.pod.namespace ?? ''}/${p.pod.name}` : doc.node_name;
}

function command(p: ProcessInfo): string {
  return p.arguments ? `${p.binary} ${p.arguments}` : p.binary;
}

export function compactLine(doc: ProcessEventDoc): string {
  if (doc.process_exec) {
    const p = doc.process_exec.process;
    return `🚀 process ${where(doc, p)} ${command(p)}`;
  }
  if (doc.process_exit) {
    const x = doc.process_exit;
    return `💥 exit    ${where(doc, x.process)} ${command(x.process)} ${x.signal ?? x.status ?? 0}`;
  }
  return `?  ${doc.event_type}`;
}
