/**
 * Whether a JSON text nests objects and arrays deeper than `limit`: a linear scan of the text, no parse and no
 * recursion, so it is safe on any request data. Everything that walks request JSON recursively (the services,
 * redaction) checks this first, since V8's JSON.parse takes nesting that a recursive walk of the result cannot.
 */
export function jsonNestsDeeperThan(text: string, limit: number): boolean {
    let depth = 0;
    let inString = false;
    for (let i = 0; i < text.length; i++) {
        const ch = text.charCodeAt(i);
        if (inString) {
            if (ch === 0x5c) i++; // a backslash escapes the next character
            else if (ch === 0x22) inString = false;
        } else if (ch === 0x22) inString = true;
        else if (ch === 0x7b || ch === 0x5b) {
            if (++depth > limit) return true;
        } else if (ch === 0x7d || ch === 0x5d) depth--;
    }
    return false;
}
