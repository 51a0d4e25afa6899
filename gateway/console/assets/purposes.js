// Purpose codes the policy knows (policies/data/schemes.json, "purposes").
// The API has no endpoint listing them, so the console carries the list;
// the policy still decides: an unknown purpose is refused in words.
export const PURPOSES = [
  ['prevention', 'Prevention'],
  ['investigation', 'Investigation'],
  ['detection', 'Detection'],
  ['prosecution', 'Prosecution'],
  ['execution_of_penalties', 'Execution of penalties'],
  ['public_security', 'Public security'],
];

/** "audit" when the policy has that purpose, else the first. */
export const DEFAULT_PURPOSE = PURPOSES.some(([v]) => v === 'audit') ? 'audit' : PURPOSES[0][0];
