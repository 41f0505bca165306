/**
 * The candidate page: setup (what is recorded, own camera, microphone level, device choice), then the exam
 * (connection, time, the server's warnings, mode switches, a kick), then the end. The id and token come from
 * the link's fragment (`vigil token issue --url`), which the browser never sends to a server.
 */
import type { HelloMessage, Message, ModeName, VerdictName } from '../protocol/candidate-wire';
import { Capture, levelMeter, listDevices, missingFeatures, openDevices, WIDTH, HEIGHT, FPS } from './capture';
import { Link, type LinkState } from './link';

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el as T;
};

const WARNINGS: Record<VerdictName, string> = {
  unknown: '',
  ok: '',
  no_face: 'We cannot see your face. Please look at the camera.',
  misaligned: 'Your face is not fully in the picture. Sit facing the camera, at arm\'s length.',
  multiple_faces: 'Another face is in the picture. You must take the exam alone.',
};

const MODES: Record<ModeName, string> = { both: 'camera and microphone', video: 'camera only (the proctor switched your microphone off)', audio: 'microphone only (the proctor switched your camera off)' };

interface Ticket {
  id: string;
  token: string;
}

function ticketFromLink(): Ticket | null {
  const params = new URLSearchParams(location.hash.slice(1));
  const id = params.get('id');
  return id ? { id, token: params.get('token') ?? '' } : null;
}

function show(section: 'setup' | 'live' | 'ended'): void {
  $('setup').hidden = section !== 'setup';
  $('devices').hidden = section !== 'setup';
  $('live').hidden = section !== 'live';
  $('ended').hidden = section !== 'ended';
  $('camera-view').hidden = section === 'ended';
}

function clock(ms: number): string {
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(h ? 2 : 1, '0');
  return `${h ? `${h}:` : ''}${mm}:${String(s % 60).padStart(2, '0')}`;
}

class Page {
  private stream: MediaStream | null = null;
  private stopMeter: (() => void) | null = null;
  private capture: Capture | null = null;
  private link: Link | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly ticket: Ticket) {}

  async setup(): Promise<void> {
    $('candidate').textContent = this.ticket.id;
    const missing = await missingFeatures();
    if (missing) {
      this.problem(`This page cannot run here: ${missing}.`);
      $('setup-status').textContent = '';
      return;
    }
    await this.open({ cameraId: null, micId: null });
    for (const id of ['camera', 'mic']) {
      $<HTMLSelectElement>(id).addEventListener('change', () => void this.open({ cameraId: $<HTMLSelectElement>('camera').value || null, micId: $<HTMLSelectElement>('mic').value || null }));
    }
    $('start').addEventListener('click', () => this.start());
  }

  /** Opens (or reopens, after a device change) the camera and microphone for the preview and the meter. */
  private async open(choice: { cameraId: string | null; micId: string | null }): Promise<void> {
    this.stopMeter?.();
    for (const t of this.stream?.getTracks() ?? []) t.stop();
    try {
      this.stream = await openDevices(choice);
    } catch (err) {
      const e = err as DOMException;
      const why = e.name === 'NotAllowedError' ? 'you did not allow the camera and microphone (allow them in the address bar, then reload)' : e.name === 'NotFoundError' ? 'no camera or microphone was found' : e.message;
      this.problem(`The camera and microphone could not be opened: ${why}.`);
      $<HTMLButtonElement>('start').disabled = true;
      return;
    }
    $<HTMLVideoElement>('preview').srcObject = this.stream;
    this.stopMeter = await levelMeter(this.stream, (rms) => this.level(rms));
    const { cameras, mics } = await listDevices();
    fill($<HTMLSelectElement>('camera'), cameras, this.stream.getVideoTracks()[0]?.getSettings().deviceId);
    fill($<HTMLSelectElement>('mic'), mics, this.stream.getAudioTracks()[0]?.getSettings().deviceId);
    $('setup-status').textContent = 'Ready. Check that your face is in the picture, then press Start.';
    $<HTMLButtonElement>('start').disabled = false;
  }

  private start(): void {
    if (!this.stream) return;
    this.stopMeter?.();
    this.stopMeter = null;
    $<HTMLButtonElement>('start').disabled = true;
    show('live');
    $('finish').focus();
    const hello: HelloMessage = {
      type: 'hello',
      version: 2,
      candidateId: this.ticket.id,
      token: this.ticket.token,
      clientVersion: 'vigil-web/1',
      video: { codec: 'h264', width: WIDTH, height: HEIGHT, fps: FPS },
      audio: { codec: 'opus', sampleRate: 48000, channels: 1 },
      accepts: ['receipt', 'alert'],
    };
    const link = new Link({
      url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`,
      hello,
      bufferMs: 10_000,
      reconnectMs: 60_000,
      onState: (s) => this.onState(s),
      onMessage: (m) => this.onMessage(m),
    });
    this.link = link;
    const capture = new Capture(this.stream, {
      config: (track, data) => link.setConfig(track, data),
      video: (f) => link.sendVideo(f),
      audio: (p) => link.sendAudio(p),
      snapshot: (s) => link.sendSnapshot(s),
      level: (rms) => this.level(rms),
      failed: (message) => this.finish(`Your camera or microphone stopped: ${message}. Your session is ending; tell your proctor.`),
    });
    this.capture = capture;
    const began = Date.now();
    this.timer = setInterval(() => ($('elapsed').textContent = clock(Date.now() - began)), 1000);
    link.start();
    capture.start().catch((err: Error) => this.finish(`Your camera or microphone could not start: ${err.message}.`));
    $('finish').addEventListener('click', () => void this.candidateFinishes());
    window.addEventListener('beforeunload', (e) => {
      if (this.link?.current.kind !== 'ended') e.preventDefault();
    });
  }

  private onState(s: LinkState): void {
    switch (s.kind) {
      case 'connecting':
        $('conn').textContent = s.attempt > 1 ? `reconnecting (attempt ${s.attempt})` : 'connecting';
        break;
      case 'open':
        $('conn').textContent = s.welcome.resumed ? 'connected (resumed after a break; nothing was lost)' : 'connected';
        if (this.capture) this.capture.snapshotIntervalMs = s.welcome.snapshotIntervalMs ?? 0;
        this.mode(s.welcome.mode);
        break;
      case 'waiting':
        $('conn').textContent = `connection lost (${s.why}); retrying in ${Math.max(1, Math.round((s.retryAt - Date.now()) / 1000))} s. Your camera keeps recording here meanwhile.`;
        break;
      case 'ended':
        if (s.by === 'server' && s.bye?.reason === 'kicked') this.finish(`The proctor ended your session: ${s.bye.text}`);
        else if (s.by === 'server') this.finish(`The server ended your session: ${s.why}`);
        else if (s.by === 'network') this.finish(`The connection to the server could not be restored (${s.why}). Tell your proctor.`);
        break;
    }
  }

  private onMessage(m: Message): void {
    if (m.type === 'verdict') {
      const text = WARNINGS[m.verdict];
      $('warning').textContent = text && m.text && m.verdict === 'misaligned' ? `${text} (${m.text})` : text;
    } else if (m.type === 'mode') {
      this.mode(m.mode);
    } else if (m.type === 'alert') {
      $('notice').textContent = m.text;
    }
  }

  private mode(mode: ModeName): void {
    if (this.capture) {
      this.capture.sendVideo = mode !== 'audio';
      this.capture.sendAudio = mode !== 'video';
    }
    $('mode').textContent = MODES[mode];
  }

  private async candidateFinishes(): Promise<void> {
    $<HTMLButtonElement>('finish').disabled = true;
    $('conn').textContent = 'finishing: waiting for the server to confirm your recording';
    this.capture?.stop();
    const bye = await this.link?.finish();
    this.finish(bye ? 'Your exam recording is complete. You may close this page.' : 'The server did not confirm your recording. Tell your proctor.');
  }

  private finish(text: string): void {
    this.capture?.stop();
    if (this.timer) clearInterval(this.timer);
    $('ended-text').textContent = text;
    show('ended');
  }

  private level(rms: number): void {
    const meter = $<HTMLMeterElement>('level');
    meter.value = Math.min(1, rms * 4);
    meter.textContent = rms > 0.005 ? 'sound' : 'silent';
  }

  private problem(text: string): void {
    const p = $('unsupported');
    p.textContent = text;
    p.hidden = false;
  }
}

function fill(select: HTMLSelectElement, devices: MediaDeviceInfo[], current: string | undefined): void {
  select.replaceChildren(...devices.map((d, i) => new Option(d.label || `device ${i + 1}`, d.deviceId, false, d.deviceId === current)));
}

const ticket = ticketFromLink();
if (!ticket) {
  const p = $('unsupported');
  p.textContent = 'This link is incomplete: open the personal link your proctor sent you (it ends with #id=...&token=...).';
  p.hidden = false;
  $('setup-status').textContent = '';
} else {
  new Page(ticket).setup().catch((err: Error) => {
    const p = $('unsupported');
    p.textContent = `Something went wrong: ${err.message}`;
    p.hidden = false;
  });
}
