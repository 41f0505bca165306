// `w`: starts and tracks the OpenCV preview windows (window.ts), one child process each; apart from console.ts,
// which only asks for one and closes them all on quit.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import blessed from 'blessed';

export class WindowLauncher {
  private readonly windows = new Set<ChildProcess>();
  private closed = false;

  /** `note` gets a line for the console's event log. */
  constructor(
    private readonly adminSocket: string,
    private readonly note: (line: string) => void,
  ) {}

  open(id: string): void {
    if (!process.env['DISPLAY']) {
      this.note('{yellow-fg}w{/}: no desktop here (DISPLAY is not set); press Enter for the preview in this terminal');
      return;
    }
    // Its own process with no stdio: Qt's messages must not land on this screen.
    const child = spawn(process.execPath, [path.join(__dirname, 'window.js'), this.adminSocket, id], { stdio: 'ignore' });
    this.windows.add(child);
    child.once('exit', (code) => {
      this.windows.delete(child);
      if (code && !this.closed) this.note(`{red-fg}the window for ${blessed.escape(id)} failed{/} (exit ${code})`);
    });
    this.note(`opened an OpenCV window for ${blessed.escape(id)} on ${blessed.escape(process.env['DISPLAY'])}`);
  }

  closeAll(): void {
    this.closed = true;
    for (const w of this.windows) w.kill('SIGTERM');
  }
}
