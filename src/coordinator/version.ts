export const MVM_VERSION = '0.1.0';
