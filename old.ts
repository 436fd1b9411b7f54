import net from 'node:net';
const t0 = Date.now();
process.on('exit', () => console.log('exit after', Date.now() - t0));
const s = net.connect({ host: '127.0.0.1', port: 18090 });
s.on('error', () => {});
setTimeout(() => { s.destroy(); console.log('destroyed'); }, 500);
