import type { UserResponse } from '../user.response.js';

/** What the guard attaches to the request: the cached user record. */
export type AuthUser = UserResponse;
