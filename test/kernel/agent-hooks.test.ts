// `procflow agent --hook-mode` on the real kernel: a forced flavour attaches where this kernel has
// it; where it does not, the required hooks it leaves out are warnings with the kernel's reason,
// `procflow_agent_kernel_hook_attached{via="none"} 0` series and a degraded /healthz, never a
// silent start. The same test passes on every kernel of the matrix, whichever way it goes there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../../common/net.js';
import { requireKernel } from '../support/kernel.js';
import { CLI, start, stop, waitFor } from '../support/processes.js';

const REQUIRED = ['exec', 'tcp_send', 'tcp_recv', 'udp_send', 'udp_recv'];

interface HookLine { hook: string; via: string; reason: string; msg: string; level: number }

for (const mode of ['kprobe', 'fentry'] as const) {
  test(`agent --hook-mode ${mode}: attached hooks, or warnings, metrics and /healthz naming the missing ones`, async (t) => {
    if (!requireKernel(t)) return;
    const port = await freePort();
    const agent = start([CLI, 'agent', '--output', 'ndjson', '--hook-mode', mode, '--listen', `127.0.0.1:${port}`, '--flush-interval', '1s', '--log-level', 'info']);
    t.after(() => stop(agent));
    await waitFor('the agent', async () => {
      if (agent.child.exitCode !== null) throw new Error(`the agent exited: ${agent.output()}`);
      return agent.output().includes('agent: running') ? true : undefined;
    }, 60_000);
    const hooks = agent.output().split('\n').filter((l) => l.startsWith('{"') && l.includes('"hook"')).map((l) => JSON.parse(l) as HookLine);
    const missing = hooks.filter((h) => REQUIRED.includes(h.hook) && h.via === 'none');
    for (const h of hooks.filter((x) => ['tcp_send', 'tcp_recv', 'udp_send', 'udp_recv'].includes(x.hook))) {
      assert.ok(h.via === mode || h.via === 'none', `${h.hook} is ${mode} or not attached, got ${h.via}`);
    }
    for (const h of missing) {
      assert.equal(h.level, 40, `${h.hook}: a warning`);
      assert.match(h.msg, new RegExp(`kernel hook ${h.hook} is not attached`));
      assert.ok(h.reason.length > 10, `${h.hook}: the kernel's reason (${h.reason})`);
    }
    const health = (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { kernelHooks: { state: string; missing?: { hook: string }[] } };
    assert.equal(health.kernelHooks.state, missing.length ? 'degraded' : 'ok');
    assert.deepEqual((health.kernelHooks.missing ?? []).map((m) => m.hook).sort(), missing.map((m) => m.hook).sort());
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    for (const h of hooks) {
      const series = `procflow_agent_kernel_hook_attached{hook="${h.hook}",via="${h.via}"} ${h.via === 'none' ? 0 : 1}`;
      assert.ok(metrics.includes(series), `metrics has ${series}`);
    }
  });
}
