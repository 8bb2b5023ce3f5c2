import { option } from '../../command.ts';
import { text } from '../../values.ts';

/** The store the coordinator's commands open on its host. */
export const databaseOption = option(
  text('<url>'),
  'SQLite file or postgres:// URL (env MVM_DATABASE_URL, default <data-dir>/coordinator.sqlite)',
);
