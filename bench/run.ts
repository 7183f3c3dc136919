/**
 * `npm run bench [-- NAME...]`: runs the named benchmarks (all when none is named) and prints one
 * line per figure plus the machine it ran on. Benchmarks are never part of `npm test`.
 */
import os from 'node:os';

type BenchResult = Record<string, number>;
type Bench = () => Promise<BenchResult>;

/**
 * `--storage sqlite|postgres` (smtp and imap): the backend of the server under test. With
 * postgres the database is MAILHAVEN_TEST_POSTGRES_URL (default the local server, database
 * `test`), a fresh schema per run; smtp then also runs two nodes with the load split over both.
 * `--messages N` (smtp): messages per run instead of 5,000.
 */
const flags = parseFlags(process.argv.slice(2));

function parseFlags(args: string[]): { storage: 'sqlite' | 'postgres' | undefined; messages: number | undefined; names: string[] } {
  let storage: 'sqlite' | 'postgres' | undefined;
  let messages: number | undefined;
  const names: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const [flag, inline] = arg.startsWith('--') ? (arg.split('=', 2) as [string, string | undefined]) : [arg, undefined];
    const value = (): string => {
      const given = inline ?? args[++i];
      if (given === undefined) throw new Error(`${flag} needs a value`);
      return given;
    };
    if (flag === '--storage') {
      const backend = value();
      if (backend !== 'sqlite' && backend !== 'postgres') throw new Error(`--storage: sqlite or postgres, not ${backend}`);
      storage = backend;
    } else if (flag === '--messages') {
      messages = Number(value());
      if (!Number.isSafeInteger(messages) || messages < 1) throw new Error('--messages: a positive whole number');
    } else if (!arg.startsWith('-')) names.push(arg);
  }
  return { storage, messages, names };
}

const benches: Record<string, { describe: string; run: Bench }> = {
  store: {
    describe: 'deliveries/s into the store, 10 KiB messages, 1 and 20 concurrent writers (fsync on)',
    run: async () => (await import('./store.js')).benchStore({}),
  },
  mime: {
    describe: 'message index time per MiB',
    run: async () => (await import('./mime.js')).benchMime(),
  },
  smtp: {
    describe: 'SMTP messages/s accepted and durably delivered (5,000 x 10 KiB; 20 sessions and 1), vs Postfix+Dovecot and smtp-sink when the refstack runs',
    run: async () => (await import('./smtp.js')).benchSmtp({ ...(flags.storage ? { storage: flags.storage } : {}), ...(flags.messages ? { messages: flags.messages } : {}) }),
  },
  imap: {
    describe: 'IMAP vs Dovecot: FETCH, SEARCH TEXT, APPEND, mixed load, idle memory',
    // --storage postgres: ours on SQLite beside ours on PostgreSQL (1 and 2 nodes), 10,000-message figures, no idle memory.
    run: async () =>
      (await import('./imap.js')).benchImap(
        flags.storage === 'postgres' ? { storage: 'postgres', servers: ['mailhaven'], fetchSizes: [10_000], only: ['fetch', 'search', 'mixed', 'append'] } : {},
      ),
  },
  search: {
    describe: 'SEARCH TEXT/BODY over 10,000 messages (messages/s)',
    run: async () => (await import('./search.js')).benchSearch(),
  },
  import: {
    describe: 'mbox import, 10,000 messages',
    run: async () => (await import('./import.js')).benchImport(),
  },
  outbound: {
    describe: 'outbound queue to smtp-sink: 10,000 x 10 KiB to 100 domains (messages/s), beside smtp-source straight into the same sink',
    run: async () => (await import('./outbound.js')).benchOutbound(),
  },
  pop3: {
    describe: 'POP3: RETR of 1,000 x 100 KiB (messages/s, MB/s); STAT/LIST/UIDL of 50,000 messages (ms); vs Dovecot when refstack is up',
    run: async () => (await import('./pop3.js')).benchPop3(),
  },
};

function machine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown cpu';
  return `${os.cpus().length} x ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, ${os.platform()} ${os.release()}`;
}

async function main(): Promise<void> {
  const requested = flags.names;
  const names = requested.length > 0 ? requested : Object.keys(benches);
  const unknown = names.filter((n) => !(n in benches));
  if (unknown.length > 0) {
    console.error(`unknown benchmark(s): ${unknown.join(', ')}; known: ${Object.keys(benches).join(', ')}`);
    process.exit(2);
  }
  console.log(`# machine: ${machine()}`);
  for (const name of names) {
    const bench = benches[name]!;
    console.log(`# ${name}: ${bench.describe}`);
    const result = await bench.run();
    for (const [key, value] of Object.entries(result)) {
      console.log(`${name}.${key}\t${Number.isInteger(value) ? value : value.toFixed(2)}`);
    }
  }
}

await main();
