#!/usr/bin/env node
// The bin runs TypeScript: tsx compiles the runtime (and the program it evaluates) as they are required.
require("tsx/cjs");
require("./bin.ts");
