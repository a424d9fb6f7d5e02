/**
 * One log line per burst of the same event (refused clients, a flood): the first event is
 * logged at once, the ones that follow within `windowMs` are counted, and the count is logged
 * when the window closes. A flood costs two lines per window, not one per connection.
 */
export class BurstLog<Sample> {
  private windowOpen = false;
  private suppressed = 0;
  private last: Sample | undefined;

  constructor(
    private readonly windowMs: number,
    /** `count` is 1 for the first event of a burst, then how many more came in the window. */
    private readonly write: (sample: Sample, count: number, first: boolean) => void,
  ) {}

  note(sample: Sample): void {
    if (this.windowOpen) {
      this.suppressed += 1;
      this.last = sample;
      return;
    }
    this.windowOpen = true;
    this.write(sample, 1, true);
    setTimeout(() => this.closeWindow(), this.windowMs).unref();
  }

  private closeWindow(): void {
    this.windowOpen = false;
    if (this.suppressed === 0) return;
    const count = this.suppressed;
    this.suppressed = 0;
    this.write(this.last!, count, false);
  }
}
