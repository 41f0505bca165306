/**
 * `w` in the console: the selected candidate's preview in an OpenCV window, for a proctor at a desktop.
 * A child process of the console, so OpenCV's GUI toolkit (Qt) and whatever it prints stay off the console's
 * screen, and a crash there cannot take the console down.
 *
 *   node dist/src/tui/window.js <admin-socket> <candidate-id>
 */
import { AdminClient } from '../admin/client';
import { loadOpenCV } from '../detect/opencv';

const COLORS = { ok: [0, 200, 0], misaligned: [0, 200, 255], no_face: [0, 0, 255], multiple_faces: [0, 0, 255], unknown: [160, 160, 160] } as const;

async function main(): Promise<void> {
  const [socket, id] = process.argv.slice(2);
  if (!socket || !id) throw new Error('usage: window.js <admin-socket> <candidate-id>');
  const cv = loadOpenCV();
  const title = `vigil ${id}`;
  const client = await AdminClient.connect(socket);
  let shown = false;
  const stop = (code: number): never => {
    client.close();
    try {
      cv.destroyWindow(title);
    } catch {
      // the window may already be gone
    }
    process.exit(code);
  };
  client.onClosed(() => stop(0));
  client.onFrame((f) => {
    const img = cv.imdecode(Buffer.from(f.jpeg, 'base64'));
    const color = COLORS[f.face as keyof typeof COLORS] ?? COLORS.unknown;
    for (const b of f.faces) img.drawRectangle(new cv.Rect(b.x, b.y, b.w, b.h), new cv.Vec3(color[0], color[1], color[2]), 2);
    img.putText(`${id}  ${f.face}  t=${(f.timestamp_ms / 1000).toFixed(1)} s`, new cv.Point2(10, 24), cv.FONT_HERSHEY_SIMPLEX, 0.7, new cv.Vec3(color[0], color[1], color[2]), 2);
    cv.imshow(title, img);
    shown = true;
  });
  await client.command({ type: 'preview', id, fps: 10 });
  // OpenCV's window needs its event loop pumped; Esc or closing the window ends the preview.
  setInterval(() => {
    const key = cv.waitKey(1);
    if (key === 27) stop(0);
    if (shown && cv.getWindowProperty(title, cv.WND_PROP_VISIBLE) < 1) stop(0);
  }, 30);
}

main().catch((err: unknown) => {
  process.stderr.write(`vigil window: ${(err as Error).message}\n`);
  process.exit(1);
});
