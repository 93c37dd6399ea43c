import {
  AccountSASPermissions,
  AccountSASResourceTypes,
  AccountSASServices,
  generateAccountSASQueryParameters,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { normalizeConnectionString, parseConnectionString } from './settings';

/**
 * The few Queue service calls the runtime needs (the blob trigger's poison queue), over the REST API with an account
 * SAS: `@azure/storage-queue` is not a dependency of this repo. Messages are base64-encoded like the Functions
 * storage extension writes them.
 */
export class MiniQueueClient {
  private readonly endpoint: string;
  private readonly credential: StorageSharedKeyCredential;
  private sas: { token: string; expires: number } | undefined;

  constructor(connectionString: string) {
    const cs = parseConnectionString(normalizeConnectionString(connectionString));
    const account = cs.AccountName;
    const key = cs.AccountKey;
    if (!account || !key)
      throw new Error('Queue access needs a connection string with AccountName and AccountKey');
    this.credential = new StorageSharedKeyCredential(account, key);
    const protocol = cs.DefaultEndpointsProtocol ?? 'https';
    this.endpoint = (
      cs.QueueEndpoint ?? `${protocol}://${account}.queue.${cs.EndpointSuffix ?? 'core.windows.net'}`
    ).replace(/\/+$/, '');
  }

  private token(): string {
    const now = Date.now();
    if (!this.sas || this.sas.expires - now < 5 * 60_000) {
      const expiresOn = new Date(now + 60 * 60_000);
      const token = generateAccountSASQueryParameters(
        {
          expiresOn,
          startsOn: new Date(now - 5 * 60_000),
          services: AccountSASServices.parse('q').toString(),
          resourceTypes: AccountSASResourceTypes.parse('sco').toString(),
          permissions: AccountSASPermissions.parse('rwdlacup'),
        },
        this.credential,
      ).toString();
      this.sas = { token, expires: expiresOn.getTime() };
    }
    return this.sas.token;
  }

  private url(path: string, query = ''): string {
    return `${this.endpoint}/${path}?${query ? `${query}&` : ''}${this.token()}`;
  }

  async createIfNotExists(queue: string): Promise<void> {
    const r = await fetch(this.url(queue), { method: 'PUT' });
    if (!r.ok && r.status !== 409)
      throw new Error(`create queue ${queue}: HTTP ${r.status} ${await r.text()}`);
  }

  async sendMessage(queue: string, text: string): Promise<void> {
    const body = `<QueueMessage><MessageText>${Buffer.from(text).toString('base64')}</MessageText></QueueMessage>`;
    const r = await fetch(this.url(`${queue}/messages`), {
      method: 'POST',
      body,
      headers: { 'Content-Type': 'application/xml' },
    });
    if (!r.ok) throw new Error(`send to queue ${queue}: HTTP ${r.status} ${await r.text()}`);
  }

  /** Up to 32 messages, decoded, without dequeuing them. A missing queue reads as empty. */
  async peekMessages(queue: string): Promise<string[]> {
    const r = await fetch(this.url(`${queue}/messages`, 'peekonly=true&numofmessages=32'));
    if (r.status === 404) return [];
    if (!r.ok) throw new Error(`peek queue ${queue}: HTTP ${r.status} ${await r.text()}`);
    const xml = await r.text();
    return [...xml.matchAll(/<MessageText>([^<]*)<\/MessageText>/g)].map((m) =>
      Buffer.from(m[1] ?? '', 'base64').toString('utf8'),
    );
  }
}
