import APORuntime
import ArgumentParser
import APOStore
print(StoreInfo.migrationNames)
