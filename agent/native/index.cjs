'use strict';
// The compiled addon; the typed facade lives in agent/src/native.ts.
module.exports = require('./build/Release/ringtap_native.node');
