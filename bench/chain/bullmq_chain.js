// The BullMQ peer of the chain benchmark: the same 3-stage chain of trivial stages Sluice's
// chain_bench runs, as three BullMQ queues a -> b -> c on a local redis-server. Worker a takes a
// job {n} and adds {n} to b, worker b adds it to c, worker c counts. The clock starts just before
// the first add to a and stops when worker c has completed N jobs. Prints one JSON line:
//   {"peer":"bullmq","version":...,"jobs":N,"concurrency":C,"seconds":S,"jobs_per_second":R}
// Usage: node bullmq_chain.js --port REDIS_PORT [--jobs 20000] [--concurrency 16] [--timeout 600]
// (bullmq is resolved through NODE_PATH=tests/oracles/node_modules, which bench/*/run.sh export).
'use strict';
const { Queue, Worker } = require('bullmq');
const version = require('bullmq/package.json').version;

function parseArgs(argv) {
  const opts = { port: null, jobs: 20000, concurrency: 16, timeout: 600 };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    const value = argv[++i];
    if (!(key in opts) || value === undefined || !/^\d+$/.test(value)) {
      throw new Error(`bad argument ${argv[i - 1]} ${value ?? ''}`.trim());
    }
    opts[key] = Number(value);
  }
  if (!opts.port) throw new Error('--port REDIS_PORT is required');
  if (opts.jobs < 1 || opts.concurrency < 1) throw new Error('--jobs and --concurrency must be >= 1');
  return opts;
}

async function main() {
  const { port, jobs, concurrency, timeout } = parseArgs(process.argv.slice(2));
  // Every Queue and Worker opens its own connections from these options; maxRetriesPerRequest null
  // is what BullMQ requires of worker (blocking) connections.
  const connection = { host: '127.0.0.1', port, maxRetriesPerRequest: null };
  const prefix = `sluice-bench-${process.pid}-${Date.now()}`;
  const defaultJobOptions = { removeOnComplete: true, removeOnFail: true };
  const queue = (name) => new Queue(name, { connection, prefix, defaultJobOptions });
  const [qa, qb, qc] = [queue('a'), queue('b'), queue('c')];

  let done = 0;
  let failure = null;
  let finish;
  const finished = new Promise((resolve) => { finish = resolve; });
  const fail = (err) => { if (!failure) { failure = err; finish(); } };

  const worker = (name, processor) => {
    const w = new Worker(name, processor, { connection, prefix, concurrency });
    w.on('failed', (job, err) => fail(new Error(`job ${job ? job.id : '?'} on ${name} failed: ${err.message}`)));
    w.on('error', fail);
    return w;
  };
  const workers = [
    worker('a', async (job) => { await qb.add('j', { n: job.data.n }); }),
    worker('b', async (job) => { await qc.add('j', { n: job.data.n }); }),
    worker('c', async () => {}),
  ];
  workers[2].on('completed', () => { if (++done === jobs) finish(); });
  // ioredis reconnects forever (maxRetriesPerRequest null), so a redis that is not there would
  // hang the run: give up hard after 30 s of connecting, and after --timeout s of running.
  const giveUp = (what) => { console.error(`bullmq_chain: ${what}`); process.exit(1); };
  const connecting = setTimeout(() => giveUp(`no connection to redis on 127.0.0.1:${port} in 30 s`), 30000);
  await Promise.all([qa, qb, qc].map((q) => q.waitUntilReady()));
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  clearTimeout(connecting);

  const timer = setTimeout(() => giveUp(`timed out after ${timeout} s with ${done}/${jobs} jobs through c`),
    timeout * 1000);
  const start = process.hrtime.bigint();
  // The producer: all N jobs into a, in chunks of 1000, while the workers already run.
  (async () => {
    for (let first = 0; first < jobs && !failure; first += 1000) {
      const chunk = [];
      for (let n = first; n < Math.min(first + 1000, jobs); n++) chunk.push({ name: 'j', data: { n } });
      await qa.addBulk(chunk);
    }
  })().catch(fail);
  await finished;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  clearTimeout(timer);

  await Promise.all(workers.map((w) => w.close(!!failure)));
  await Promise.all([qa, qb, qc].map((q) => q.close()));
  if (failure) throw failure;
  process.stdout.write(JSON.stringify({
    peer: 'bullmq', version, jobs, concurrency, seconds, jobs_per_second: jobs / seconds,
  }) + '\n');
}

main().catch((err) => {
  console.error(`bullmq_chain: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
