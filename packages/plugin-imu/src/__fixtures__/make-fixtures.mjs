// Writes small synthetic IMU recordings (walking-like: a 2 Hz gait on the accelerometer, a turn on
// the gyroscope, seeded noise). Run: node make-fixtures.mjs
import { writeFileSync } from 'node:fs';

let s = 42;
const rand = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 0.05;
const rows = [];
const rate = 100;
for (let i = 0; i < 300; i++) {
  const t = i / rate;
  const gait = Math.sin(2 * Math.PI * 2 * t);
  rows.push([t.toFixed(3), (0.3 * gait + rand()).toFixed(4), (0.1 * Math.cos(2 * Math.PI * 2 * t) + rand()).toFixed(4), (9.81 + 0.8 * gait + rand()).toFixed(4),
    (0.02 + rand()).toFixed(4), (0.05 * gait + rand()).toFixed(4), (t > 1.5 ? 0.6 : 0.0 + rand()).toFixed(4)]);
}
writeFileSync('walk-100hz.csv', ['time,ax,ay,az,gx,gy,gz', ...rows.map((r) => r.join(','))].join('\n') + '\n');
