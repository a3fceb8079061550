// `node dist/local-services/prefetch.js`: fetch and unpack the Elasticsearch distribution ahead of
// time (bootstrap does this so the first test run or `npm start` does not wait for it).
import { ensureDistribution, findJavaHome } from './elasticsearch.js';
import { describeError } from '../common/errors.js';

try {
  const home = ensureDistribution((m) => process.stderr.write(`procflow: ${m}\n`));
  process.stderr.write(`procflow: Elasticsearch ready at ${home} (Java: ${findJavaHome()})\n`);
} catch (err) {
  process.stderr.write(`procflow: ${describeError(err)}\n`);
  process.exitCode = 1;
}
