import { ValidationPipe, type ValidationError } from '@nestjs/common';
import { FieldErrorsException } from './drf-errors.js';

/** Global pipe: whitelist + forbid unknown fields + transform; errors in DRF's {"field": [..]} shape. */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    stopAtFirstError: false,
    exceptionFactory: (errors) => new FieldErrorsException(flatten(errors)),
  });
}

function flatten(errors: ValidationError[], prefix = ''): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const error of errors) {
    const field = prefix ? `${prefix}.${error.property}` : error.property;
    if (error.constraints) {
      out[field] = Object.entries(error.constraints).map(([name, message]) =>
        name === 'whitelistValidation' ? 'This field is not allowed.' : sentence(message),
      );
    }
    if (error.children?.length) Object.assign(out, flatten(error.children, field));
  }
  return out;
}

function sentence(message: string): string {
  const text = message.charAt(0).toUpperCase() + message.slice(1);
  return text.endsWith('.') ? text : `${text}.`;
}
