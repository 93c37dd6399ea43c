export * from '../../dev/azurite';
