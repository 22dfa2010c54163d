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
    if (error.constraints) out[field] = messagesFor(error);
    if (error.children?.length) Object.assign(out, flatten(error.children, field));
  }
  return out;
}

/**
 * DRF's messages: a missing field gets one "required" message (or the DTO's specific @IsDefined
 * one), a null one "may not be null", never a validator's message about a value that is not there.
 */
function messagesFor(error: ValidationError): string[] {
  const constraints = error.constraints ?? {};
  if (constraints.whitelistValidation) return ['This field is not allowed.'];
  if (error.value === undefined)
    return [constraints.isDefined ? sentence(constraints.isDefined) : 'This field is required.'];
  if (error.value === null) return ['This field may not be null.'];
  return Object.values(constraints).map(sentence);
}

function sentence(message: string): string {
  const text = message.charAt(0).toUpperCase() + message.slice(1);
  return text.endsWith('.') ? text : `${text}.`;
}
