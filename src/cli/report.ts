// `vigil report`: argument parsing and wiring only; the work is in src/report.
import type { Command } from 'commander';
import { runReport } from '../report/report';
import { ReportError, parseSince } from '../report/scan';
import { DEFAULT_RECORD_DIR } from './options';

interface ReportFlags {
  recordDir: string;
  out: string;
  since?: string;
}

export function addReportCommand(program: Command, run: (p: Promise<number>) => void): void {
  program
    .command('report')
    .description('after the exam: a review page (index.html, pictures) and CSVs of every session, ranked by review priority')
    .option('--record-dir <dir>', 'the recordings (a copy is fine)', DEFAULT_RECORD_DIR)
    .requiredOption('--out <dir>', 'where to write index.html, img/, sessions.csv, incidents.csv')
    .option('--since <when>', 'only sessions started since an ISO date/time or a duration back from now (4h, 2d)')
    // Usage errors reach main() as exceptions, which turns them into exit 2 (by default commander exits 1 itself).
    .exitOverride()
    .action((flags: ReportFlags) =>
      run(
        (async () => {
          const since = flags.since === undefined ? null : parseSince(flags.since);
          const r = await runReport({ recordDir: flags.recordDir, out: flags.out, since, err: process.stderr });
          return r.exitCode;
        })().catch((err: unknown) => {
          if (!(err instanceof ReportError)) throw err;
          process.stderr.write(`vigil report: ${err.message}\n`);
          return err.exitCode;
        }),
      ),
    );
}
