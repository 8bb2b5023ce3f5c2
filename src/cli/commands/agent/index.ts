import type { CliCommand } from '../../command.ts';
import { agentInstanceLogs, agentInstanceStats } from '../instance/local.ts';
import {
  agentInstanceDestroy,
  agentInstanceSleep,
  agentInstanceStart,
  agentInstanceStop,
  agentInstanceWake,
  agentInstanceWarm,
} from './instance-action.ts';
import { agentInstanceList, agentInstancePut } from './instance-put.ts';
import { agentServe } from './serve.ts';

/** The commands that talk to this machine's agent; registered with one line in ../index.ts. */
export const localAgentCommands: readonly CliCommand[] = [
  agentServe,
  agentInstancePut,
  agentInstanceList,
  agentInstanceStats,
  agentInstanceLogs,
  agentInstanceStart,
  agentInstanceStop,
  agentInstanceWarm,
  agentInstanceSleep,
  agentInstanceWake,
  agentInstanceDestroy,
];
