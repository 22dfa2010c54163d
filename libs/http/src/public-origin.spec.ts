import { BadRequestException } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { publicOrigin } from './public-origin.js';

describe('publicOrigin', () => {
  it('PUBLIC_URL wins', () => {
    expect(publicOrigin({ protocol: 'http', host: 'evil.example' }, 'https://echo.example.org')).toBe(
      'https://echo.example.org',
    );
  });

  it('is rebuilt from the parsed host, never pasted from the header', () => {
    expect(publicOrigin({ protocol: 'https', host: 'API.example.com:8443' }, undefined)).toBe(
      'https://api.example.com:8443',
    );
    expect(publicOrigin({ protocol: 'http', host: '[::1]:3000' }, undefined)).toBe('http://[::1]:3000');
    expect(() => publicOrigin({ protocol: 'http', host: 'localhost:x@evil.example' }, undefined)).toThrow(
      BadRequestException,
    );
    expect(() => publicOrigin({ protocol: 'http', host: '127.0.0.1:80/evil' }, undefined)).toThrow(BadRequestException);
  });

  it('a scheme other than https is http', () => {
    expect(publicOrigin({ protocol: 'javascript' as 'http', host: 'localhost' }, undefined)).toBe('http://localhost');
  });
});
