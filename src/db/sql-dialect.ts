/** The SQL databases the store runs on. */
export type SqlDialect = 'sqlite' | 'postgres';
