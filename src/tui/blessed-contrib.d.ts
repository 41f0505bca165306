// No @types/blessed-contrib exists; this declares the one widget the console uses.
declare module 'blessed-contrib' {
  import type { Widgets } from 'blessed';

  interface SparklineOptions extends Widgets.BoxOptions {
    label?: string;
    tags?: boolean;
    style?: { fg?: string; titleFg?: string };
  }

  interface Sparkline extends Widgets.BoxElement {
    setData(titles: string[], datasets: number[][]): void;
  }

  export function sparkline(options: SparklineOptions): Sparkline;
}
