/** Options every command accepts; they feed the config layers (see config.ts). */
export const globalOptions = [
  {
    flag: '--coordinator',
    placeholder: '<url>',
    description: 'coordinator URL (env MVM_COORDINATOR_URL, default http://127.0.0.1:7070)',
  },
  {
    flag: '--token',
    placeholder: '<token>',
    description: 'API token (env MVM_TOKEN; default: <data-dir>/admin.token when readable)',
  },
  {
    flag: '--config',
    placeholder: '<path>',
    description: 'JSON config file (env MVM_CONFIG, default /etc/mvm/config.json if present)',
  },
  {
    flag: '--ca-file',
    placeholder: '<pem>',
    description:
      'CA certificate of an https coordinator (env MVM_CA_FILE; default: <data-dir>/ca/ca.crt when readable)',
  },
  {
    flag: '--data-dir',
    placeholder: '<path>',
    description: 'state directory (env MVM_DATA_DIR, default /var/lib/mvm)',
  },
] as const;

export const JSON_FLAG = {
  flag: '--json',
  description: 'print the result as JSON (errors as JSON on stderr)',
} as const;
