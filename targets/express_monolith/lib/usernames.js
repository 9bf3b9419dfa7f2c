// Usernames, the rule of targets/common/usernames.py: trimmed (Python's str.strip whitespace),
// ASCII letters lowercased, then 3..64 characters of [A-Za-z0-9_.-].
export const USERNAME_MIN = 3;
export const USERNAME_MAX = 64; // characters
const USERNAME_PATTERN = /^[A-Za-z0-9_.-]+$/;
// Exactly the characters Python's str.isspace() accepts (JS's trim() differs: \ufeff, \x1c-\x1f, \x85).
const SPACE = '\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const SURROUNDING_SPACE = new RegExp(`^[${SPACE}]+|[${SPACE}]+$`, 'g');

/** `raw` trimmed, with ASCII letters lowercased (other characters kept). */
export function normalizeUsername(raw) {
  return raw.replace(SURROUNDING_SPACE, '').replace(/[A-Z]+/g, (upper) => upper.toLowerCase());
}

/** Whether `name` is USERNAME_MIN..USERNAME_MAX characters of the allowed ASCII set. */
export function isValidUsername(name) {
  return name.length >= USERNAME_MIN && name.length <= USERNAME_MAX && USERNAME_PATTERN.test(name);
}
