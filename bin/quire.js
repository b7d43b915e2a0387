#!/usr/bin/env node
// The `quire` command: the compiled CLI (npm install builds it into dist/).
import '../dist/cli/main.js';
