// Gives a test suite a real Elasticsearch: PROCFLOW_ES_URL when set (the test runner sets it to
// the cluster it started for the whole run), else testcontainers with the official image when a
// Docker engine answers, else the integ-test-zip distribution (local-services/elasticsearch.ts).
import { Client } from '@elastic/elasticsearch';
import { ES_VERSION, startLocalElasticsearch } from '../../local-services/elasticsearch.js';
import { IN_CI } from './environment.js';

export interface TestCluster {
  url: string;
  client: Client;
  stop(): Promise<void>;
}

export type ClusterResult = { cluster: TestCluster; reason?: undefined } | { cluster?: undefined; reason: string };

async function dockerAnswers(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

async function fromUrl(url: string, stop: () => Promise<void> = async () => {}): Promise<TestCluster> {
  const client = new Client({ node: url, requestTimeout: 60_000 });
  await client.cluster.health({ wait_for_status: 'yellow', timeout: '60s' });
  return { url, client, stop: async () => (await client.close(), await stop()) };
}

async function fromTestcontainers(): Promise<TestCluster> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const container = await new GenericContainer(`docker.elastic.co/elasticsearch/elasticsearch:${ES_VERSION}`)
    .withEnvironment({ 'discovery.type': 'single-node', 'xpack.security.enabled': 'false', ES_JAVA_OPTS: '-Xms1g -Xmx1g' })
    .withExposedPorts(9200)
    .withWaitStrategy(Wait.forHttp('/_cluster/health', 9200).forStatusCode(200))
    .withStartupTimeout(180_000)
    .start();
  return fromUrl(`http://${container.getHost()}:${container.getMappedPort(9200)}`, async () => void (await container.stop()));
}

/** A cluster for this suite, or the reason there is none (callers skip, or fail in CI). */
export async function getTestCluster(): Promise<ClusterResult> {
  const url = process.env.PROCFLOW_ES_URL;
  try {
    if (url) return { cluster: await fromUrl(url) };
    if (await dockerAnswers()) return { cluster: await fromTestcontainers() };
    const es = await startLocalElasticsearch({ heap: '768m' });
    return { cluster: await fromUrl(es.url, es.stop) };
  } catch (err) {
    const reason = `no Elasticsearch for tests (${url ? `PROCFLOW_ES_URL=${url}` : 'testcontainers and the integ-test-zip'}): ${(err as Error).message}`;
    if (IN_CI) throw new Error(reason, { cause: err });
    return { reason };
  }
}

/**
 * Deletes every procflow index so a suite starts clean (the templates stay). Indices are listed
 * and deleted by name, which also works where action.destructive_requires_name is set.
 */
export async function deleteProcflowIndices(client: Client): Promise<void> {
  const rows = await client.cat.indices({ index: 'procflow-*', expand_wildcards: 'all', format: 'json', h: 'index' }, { ignore: [404] });
  const names = (Array.isArray(rows) ? rows : []).map((r) => r.index).filter((n): n is string => Boolean(n));
  for (let i = 0; i < names.length; i += 50) {
    await client.indices.delete({ index: names.slice(i, i + 50), ignore_unavailable: true }, { ignore: [404] });
  }
}
