/** The slice of a pino logger the store uses. */
export interface StoreLogger {
  info(context: Record<string, unknown>, message: string): void;
  /** Lost database connections (the store carries on). */
  warn?(context: Record<string, unknown>, message: string): void;
}
