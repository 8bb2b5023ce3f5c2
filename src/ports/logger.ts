/**
 * The one logger type: the pino-compatible subset every part of mvm logs through. Modules take
 * one of these instead of importing pino, so composition roots decide where logs go and tests
 * can stay quiet.
 */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const ignore = (): void => undefined;

export const silentLogger: Logger = { debug: ignore, info: ignore, warn: ignore, error: ignore };
