// One log line per event on stderr: "<time> <service>[<pid>] <LEVEL> <name>: <message>",
// the format of targets/common/serve.py (the backends keep it in the service's log file).
export function makeLogger(serviceName, name = 'express') {
  const write = (level) => (message) => {
    process.stderr.write(`${new Date().toISOString()} ${serviceName}[${process.pid}] ${level} ${name}: ${message}\n`);
  };
  return { info: write('INFO'), warning: write('WARNING'), error: write('ERROR') };
}
