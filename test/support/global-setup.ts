import { mysqlAvailable, redisAvailable, REQUIRE_SERVICES } from './services.js';

/** With REQUIRE_SERVICES=1 (CI), missing MariaDB/Redis fails the run at once with a clear message. */
export default async function setup(): Promise<void> {
  const [mysqlUp, redisUp] = await Promise.all([mysqlAvailable(), redisAvailable()]);
  process.env.ECHO_TEST_MYSQL = mysqlUp ? '1' : '0';
  process.env.ECHO_TEST_REDIS = redisUp ? '1' : '0';
  if (REQUIRE_SERVICES && (!mysqlUp || !redisUp)) {
    throw new Error(
      `REQUIRE_SERVICES=1 but MariaDB is ${mysqlUp ? 'up' : 'DOWN'} and Redis is ${redisUp ? 'up' : 'DOWN'} on 127.0.0.1`,
    );
  }
}
