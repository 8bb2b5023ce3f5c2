/**
 * The pino-compatible subset drivers log through. Drivers accept one of these instead of
 * importing pino, so composition roots decide where logs go and tests can stay quiet.
 */
export interface DriverLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

const ignore = (): void => undefined;

export const silentLogger: DriverLogger = {
  info: ignore,
  warn: ignore,
  error: ignore,
  debug: ignore,
};
